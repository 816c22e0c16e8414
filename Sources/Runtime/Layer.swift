// Runtime layer: see ../shared/DESIGN.md.
