// Config layer: see ../shared/DESIGN.md.
