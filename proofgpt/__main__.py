from proofgpt.cli import main

raise SystemExit(main())
