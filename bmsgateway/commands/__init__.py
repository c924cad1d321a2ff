"""CLI subcommands, one module each: ``register(sub)`` adds the parser, ``run(args)`` returns the exit code."""
