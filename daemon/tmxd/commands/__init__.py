"""Click commands, one module per area; ``tmxd.cli.COMMANDS`` says which defines each."""
