"""DiT: Efficient Vision Transformers with Dynamic Token Routing: forwardkit plugin `dynamic-token-routing`.

Kept light on purpose: forwardkit imports ``forwardkit_dynamic_token_routing.plugin`` at start-up to read the
registrations; model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
