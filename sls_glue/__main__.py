from sls_glue.main import main

raise SystemExit(main())
