// Proxy layer: see ../shared/DESIGN.md.
