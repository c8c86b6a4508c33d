"""Widget callbacks of the lessons, one module per lesson, written so pytest can drive them.

Only core ipywidgets (Colab ships 7.x). Each callback ends with ``plt.show()`` so a new picture
replaces the previous one instead of stacking under it.
"""
