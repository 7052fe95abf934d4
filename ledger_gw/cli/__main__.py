from ledger_gw.cli import main

main()
