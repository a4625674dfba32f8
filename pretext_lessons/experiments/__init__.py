"""The lessons' experiments built from the engine and the tasks.

The probing lessons share three modules: `probing` (the one probe protocol: features, layer by layer, on
(seed, split) units), `table` (the one results-row format, its curves and the paired `decide`) and
`budgets` (what each network trains on: pretraining budgets, training plans, the reference networks).
On top of them: `alignment` (lesson 4's layer-alignment study), `downstream` (lesson 5's suite of
downstream tasks: its data), `suite` (lesson 5's probes, curves and verdicts on that suite), `transfer`
(lesson 5's protocol comparison; its fine-tuning is `finetune`), `capstone` (lessons 0 and 6), `design_findings`
(lesson 6's shortcut checks as one table of findings), `aberration` (lesson 3's chromatic-aberration shortcut),
`jigsaw_study` (lesson 2's shortcut and permutation-set studies) and
`inspection` (seeing what a network learned, lessons 1-3).

`experiments` may import from `core`, `notebook`, `tasks` and `experiments`.
"""
