"""The lessons' experiments built from the engine and the tasks: the layer-alignment study
(lesson 4), the chromatic-aberration shortcut (lesson 3), the jigsaw shortcut and permutation-set
studies (lesson 2), seeing what a network learned (lessons 1-3), the pipeline diagram and the capstone
report (lessons 0 and 5).

`experiments` may import from `core`, `notebook`, `tasks` and `experiments`.
"""
