"""``heatmark reproduce``: the AWing and 2D Wasserstein papers' tables as a grid of cached runs.

- ``grid``: the rows (plain data: a base recipe plus overrides per row) and the scales;
- ``holdout``: the CPU recipes' fixed hold-out as ``train/`` and ``val/`` folders;
- ``runner``: one ``heatmark train`` process per run, cached, resumed, within a budget;
- ``evaluation``: scoring a finished run (decodings, robustness protocols);
- ``ledger``: one committed JSON record per scored run (``docs/results/records/`` for the study):
  the cache across sessions and machines, and the page's only source;
- ``results``: the results page from the records (tables, CED and loss plots, budget,
  provenance);
- ``measure``: seconds per epoch of each row, for the budget.

``runs/`` is git-ignored and a work session starts from a fresh clone, while the study needs
more hours than one session: so a scored run's numbers go into a record that is committed, a
run with a current record is never trained again (even without its run folder), and
``heatmark reproduce --report-only`` rebuilds the same page from the records on any clone.

The CPU study recipe and its budget
-----------------------------------
The shipped model's recipe (``cpu_shipped_300w``, bundled: 128 px input, 32x32 maps,
1,925 training faces, batch 16 = 120 steps an epoch, Adam 1e-3, cosine schedule) at width 32
for 20 epochs: a 2-stack hourglass for the AWing tables (boundary coordinates only act from the
second stack on), one stack with CoordConv in every convolution for the Wasserstein table (the
paper's network); SimpleBaselines (ResNet-18, base width 32) with L2 and with the Wasserstein
loss for "the loss on other heatmap models". CPN and HRNet-W18 are left to the paper scale
(at study size CPN with the Wasserstein loss on its five outputs: 224 s an epoch on one thread;
HRNet-W18 at 128 px: ~500 s). Measured CPU seconds per epoch on one thread
(``heatmark reproduce --measure``: 10 steps after 2, process CPU time, so the other training on
the machine did not inflate it):

- AWing Table 7: MSE 38, AWing 51, + weighted map 50, + boundary 54, + CoordConv 56,
  + boundary coordinates 54 -- 303 s for the six rows;
- AWing Tables 5/6: six settings of the full model, 49-58 each -- 328 s;
- Wasserstein: L2 at sigma 1 / 1.5 26 each, Wasserstein 56 / 51, Jensen-Shannon 24,
  soft-argmax 22, Wasserstein without CoordConv everywhere 51, Sinkhorn divergence (debiased
  Wasserstein) at sigma 1.5 89 -- 345 s. (The Sinkhorn loss costs
  about as much as the width-32 network itself here: ~0.25 s a batch of 16 on 32x32 maps; with
  trained weights 9% more than at initialisation.)
- Other models: SimpleBaselines L2 43, Wasserstein 74, Sinkhorn divergence 117 -- 234 s.

One epoch of every row is 1,210 s; 2 seeds x 20 epochs = 48,400 s = 13.4 CPU-thread hours. The
study runs 2 single-thread runs at once (``--jobs 2``, the default at this scale, one per core):
about 6.7 hours of wall time, 7.9 if two runs at once only reach 1.7x one, plus ~20 s of scoring
a run (46 runs). The grid parallelises across runs rather than threads: small convolutions
scale poorly across threads (the HG-1 width-64 L2 model: ~45 img/s on one thread measured here,
~54 img/s on two).

Seeds: every row trains seeds 0 and 1, seed 0 of every row first (headline rows first: MSE and
the full AWing model, L2 at sigma 1 and Wasserstein at sigma 1.5), so a budget that runs out
still leaves one complete table of seed 0; the page marks each comparison as within or beyond
the seed spread. ``--seeds 1`` halves the budget, ``--seeds 3`` adds a third seed to the cache.

The paper scale (``--scale paper``) is the same rows on the papers' recipes (256 px, 64x64 maps,
4-stack hourglass of width 256, RMSprop 1e-4 for 240 epochs; sigma 3, softmax temperature 1),
meant for a GPU (``--device cuda``, one run at a time).
"""
