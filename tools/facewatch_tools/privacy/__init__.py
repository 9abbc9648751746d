"""The privacy tools: the stores of a deployed stack, the DPIA facts report."""
