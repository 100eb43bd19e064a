from samband.cli import main

main()
