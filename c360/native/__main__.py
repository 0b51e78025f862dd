from c360.native import main

main()
