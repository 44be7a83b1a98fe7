"""The terminal user interface and the ``veilig`` command line."""
