from gnneval.cli import main

raise SystemExit(main())
