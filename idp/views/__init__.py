"""The provider's endpoints, a module each: DOT's views, subclassed only where a rule needs it."""
