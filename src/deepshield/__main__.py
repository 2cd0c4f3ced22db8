from deepshield.cli import main

main()
