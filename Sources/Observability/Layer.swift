// Observability layer: see ../shared/DESIGN.md.
