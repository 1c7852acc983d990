"""Pure rules of the projection: what each journey contributes to which figures."""
