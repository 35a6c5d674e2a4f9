"""Models: the LiteRT classifier and detector, labels, species lists, the model store."""
