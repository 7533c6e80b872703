from recallrank.cli import main

raise SystemExit(main())
