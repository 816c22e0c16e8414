// Sim layer: see ../shared/DESIGN.md.
