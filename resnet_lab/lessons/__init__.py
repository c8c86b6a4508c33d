"""The lessons' experiments, one concept per module; each only composes the package's pieces.

Import the module you need (``from resnet_lab.lessons import degradation``); this package
imports none of them itself, so importing one lesson's module never pulls in another's.

* lesson 00: :mod:`.identity` (zero-init of the last BN, measured);
* lesson 01: :mod:`.toy` (deep MLPs on two spirals), :mod:`.toy_blocks` (the learner's block, stacked
  and trained), :mod:`.degradation` (the paper's Figure 6 experiment), :mod:`.activations` (the
  forward signal at initialisation);
* lesson 02: :mod:`.probing` (model surgery and probe batches), :mod:`.gradients`,
  :mod:`.jacobians`, :mod:`.responses` (Figure 7), :mod:`.paths` (the path view),
  :mod:`.product_formula` (what the scalar product formula misses);
* lesson 05: :mod:`.trained_nets` (the lesson's nets and their held-out set), :mod:`.lesions`,
  :mod:`.landscape`, :mod:`.preact`;
* shared: :mod:`.caching` (the data fingerprint in every lesson cache key of :mod:`resnet_lab.store`).

Figures drawn from these results live in :mod:`resnet_lab.plots` (lessons 00-02's longer ones in
:mod:`.figures`); exercise checkers in
:mod:`resnet_lab.exercises`.
"""
