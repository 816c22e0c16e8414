// HTTP layer: see ../shared/DESIGN.md.
