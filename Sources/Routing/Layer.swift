// Routing layer: see ../shared/DESIGN.md.
