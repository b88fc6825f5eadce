# The chat protocol's decoder is a parser that faces the network.
FUZZ_TARGETS += ./netio/chat:FuzzDecode
