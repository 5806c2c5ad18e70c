"""Operations that read a repository directly: ``verify`` (check every object of a
chain) and ``scan`` (find the backups a repository holds). Neither writes catalogue
rows; the service (``ember.service``) calls them and records what they find."""
