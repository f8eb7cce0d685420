"""The base classes plug-ins implement. Plug-in authors import them from rmdbench.api."""
