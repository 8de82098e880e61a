from placement.cli import main

main()
