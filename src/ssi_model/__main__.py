from ssi_model.cli import main

main()
