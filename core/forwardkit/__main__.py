"""``python -m forwardkit`` runs the CLI (also what ``torchrun -m forwardkit`` starts)."""

from forwardkit.cli.main import main

main()
