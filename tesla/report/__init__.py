"""Reports: self-contained HTML pages with tables and inline SVG plots."""
