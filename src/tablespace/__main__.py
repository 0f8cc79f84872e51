from tablespace.cli import main

main()
