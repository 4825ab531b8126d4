/** Names of models, versions and tensors: what a strict URL segment may hold. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
