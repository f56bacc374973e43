"""BPMN models: parsing with Zeebe's extensions, and FEEL expressions.

- `parser.parse_bpmn(xml, resource_name) -> model.Definitions`, or `errors.BpmnParseError`
  listing every problem (resource, line, element id and type, what is wrong, what to do).
- `expression.compile_expression(text) -> Expression`: static text, or FEEL after '='.
- `model`: the executable shape the engine runs.

This package imports nothing else of propolis (see the import-linter contracts).
"""
