"""The engine: data, backbones, training and linear probes.

It knows nothing of particular pretext tasks, lessons or notebooks: `core` imports only from
`core`. A task is anything with the interface of `pretext_lessons.tasks.PretextTask`.
"""
