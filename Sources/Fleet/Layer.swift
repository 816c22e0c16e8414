// Fleet layer: see ../shared/DESIGN.md.
