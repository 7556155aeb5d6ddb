"""forwardkit-pfn: prior-data fitted networks (Mueller et al., ICLR 2022). Kept free of imports (discovery imports
``forwardkit_pfn.plugin``, which runs this file first)."""
