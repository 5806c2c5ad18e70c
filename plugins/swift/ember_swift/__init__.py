"""OpenStack Swift repository driver for Ember (entry point ``swift``)."""
