package gemini

import (
	"bytes"
	"strings"

	"github.com/tollgate/tollgate/core/peek"
)

// Gemini's Schema (responseSchema, functionDeclarations.parameters) is a
// subset of OpenAPI 3.0, not JSON Schema, and rejects keywords it does not
// know. appendSchema converts a JSON Schema:
//
//   - type names are upper-cased (STRING, NUMBER, INTEGER, BOOLEAN,
//     ARRAY, OBJECT); a type list with "null" becomes nullable, and a
//     missing type is OBJECT with properties, ARRAY with items;
//   - anyOf and oneOf become anyOf; a {"type":"null"} branch becomes
//     nullable, and a single remaining branch is inlined; a one-element
//     allOf is inlined (larger ones keep only their first element);
//   - local $ref (#/$defs/…, #/definitions/…, #) are inlined, at most 32
//     levels deep, so recursive schemas are refused;
//   - const becomes a one-value enum; enum is kept when every value is a
//     string (null values become nullable) and dropped otherwise;
//   - format is kept only where Gemini accepts it (STRING: enum,
//     date-time; NUMBER: float, double; INTEGER: int32, int64);
//   - kept as they are: title, description, nullable, required, items,
//     properties, minItems, maxItems, minLength, maxLength, pattern,
//     minimum, maximum, minProperties, maxProperties, example, default,
//     propertyOrdering;
//   - dropped: everything else, notably $schema, $id, $defs,
//     definitions, additionalProperties, patternProperties, not, if/then/
//     else, uniqueItems, contains, multipleOf, exclusiveMinimum,
//     exclusiveMaximum, examples, readOnly, writeOnly, deprecated, strict.
const maxSchemaDepth = 32

type schemaError string

func (e schemaError) Error() string { return string(e) }

const (
	errSchemaDepth  = schemaError("schema nests too deeply or is recursive (Gemini schemas cannot refer to themselves)")
	errSchemaRef    = schemaError("only local $ref (#/$defs/… or #/definitions/…) can be resolved")
	errSchemaObject = schemaError("a schema must be a JSON object")
)

// schemaConv carries the root schema for $ref resolution.
type schemaConv struct {
	root []byte
	defs [2][]byte // $defs, definitions
}

// appendSchema appends the Gemini Schema for the JSON Schema s.
func appendSchema(dst, s []byte) ([]byte, error) {
	sc := schemaConv{root: s}
	_ = peek.Members(s, func(m peek.Member) error {
		switch {
		case peek.KeyIs(m.Key, "$defs"):
			sc.defs[0] = m.Value
		case peek.KeyIs(m.Key, "definitions"):
			sc.defs[1] = m.Value
		}
		return nil
	})
	return sc.append(dst, s, 0, false, nil)
}

// hasProperties reports whether an object schema declares any property;
// Gemini rejects an OBJECT parameters schema without properties, so a
// function without parameters is declared without "parameters".
func hasProperties(s []byte) bool {
	found := false
	_ = peek.Members(s, func(m peek.Member) error {
		if peek.KeyIs(m.Key, "properties") && len(m.Value) > 0 && m.Value[0] == '{' {
			_ = peek.Members(m.Value, func(peek.Member) error {
				found = true
				return nil
			})
		}
		if peek.KeyIs(m.Key, "$ref") || peek.KeyIs(m.Key, "anyOf") || peek.KeyIs(m.Key, "oneOf") || peek.KeyIs(m.Key, "allOf") {
			found = true
		}
		return nil
	})
	return found
}

func (sc *schemaConv) resolve(ref []byte) ([]byte, error) {
	r, err := peek.String(ref)
	if err != nil {
		return nil, errSchemaRef
	}
	if string(r) == "#" {
		return sc.root, nil
	}
	var defs []byte
	var name string
	switch {
	case bytes.HasPrefix(r, []byte("#/$defs/")):
		defs, name = sc.defs[0], string(r[len("#/$defs/"):])
	case bytes.HasPrefix(r, []byte("#/definitions/")):
		defs, name = sc.defs[1], string(r[len("#/definitions/"):])
	default:
		return nil, errSchemaRef
	}
	// JSON Pointer escapes.
	name = strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~")
	var target []byte
	_ = peek.Members(defs, func(m peek.Member) error {
		if target == nil && string(peek.Key(m.Key)) == name {
			target = m.Value
		}
		return nil
	})
	if target == nil {
		return nil, schemaError("$ref " + string(r) + " names no definition")
	}
	return target, nil
}

// geminiType is Gemini's name of a JSON Schema type, "" for none.
func geminiType(t string) string {
	switch t {
	case "string":
		return "STRING"
	case "number":
		return "NUMBER"
	case "integer":
		return "INTEGER"
	case "boolean":
		return "BOOLEAN"
	case "array":
		return "ARRAY"
	case "object":
		return "OBJECT"
	}
	return ""
}

// isNullSchema reports a {"type":"null"} branch.
func isNullSchema(s []byte) bool {
	null := false
	n := 0
	_ = peek.Members(s, func(m peek.Member) error {
		n++
		if peek.KeyIs(m.Key, "type") && string(bytes.TrimSpace(m.Value)) == `"null"` {
			null = true
		}
		return nil
	})
	return null && n == 1
}

// append converts one schema object; nullable is set by a caller that
// dropped a null branch, desc is the description of a wrapper that was
// inlined ($ref, one-branch anyOf, allOf), used when s has none.
func (sc *schemaConv) append(dst, s []byte, depth int, nullable bool, desc []byte) ([]byte, error) {
	if depth > maxSchemaDepth {
		return dst, errSchemaDepth
	}
	s = bytes.TrimSpace(s)
	if len(s) == 0 || s[0] != '{' {
		if string(s) == "true" {
			return append(dst, "{}"...), nil
		}
		return dst, errSchemaObject
	}

	// First pass: what decides the shape.
	var (
		typ                        string
		ref, anyOf, allOf, consts  []byte
		hasProps, hasItems, enumOK = false, false, true
		enumVals                   []byte
		hasEnum, hasDesc           bool
	)
	err := peek.Members(s, func(m peek.Member) error {
		v := bytes.TrimSpace(m.Value)
		switch string(peek.Key(m.Key)) {
		case "$ref":
			ref = v
		case "type":
			if len(v) > 0 && v[0] == '[' {
				_ = peek.Elements(v, func(e []byte) error {
					t, err := peek.String(e)
					if err != nil {
						return nil
					}
					if string(t) == "null" {
						nullable = true
					} else if typ == "" {
						typ = string(t)
					}
					return nil
				})
			} else if t, err := peek.String(v); err == nil {
				if string(t) == "null" {
					nullable = true
				} else {
					typ = string(t)
				}
			}
		case "nullable":
			if b, err := peek.Bool(v); err == nil && b {
				nullable = true
			}
		case "anyOf", "oneOf":
			if len(v) > 0 && v[0] == '[' {
				anyOf = v
			}
		case "allOf":
			if len(v) > 0 && v[0] == '[' {
				allOf = v
			}
		case "const":
			consts = v
		case "enum":
			hasEnum = true
			_ = peek.Elements(v, func(e []byte) error {
				if peek.IsNull(e) {
					nullable = true
					return nil
				}
				if _, err := peek.String(e); err != nil {
					enumOK = false
				}
				return nil
			})
			enumVals = v
		case "properties":
			hasProps = true
		case "items":
			hasItems = true
		case "description":
			if _, err := peek.String(v); err == nil {
				hasDesc, desc = true, v
			}
		}
		return nil
	})
	if err != nil {
		return dst, err
	}
	if ref != nil {
		target, err := sc.resolve(ref)
		if err != nil {
			return dst, err
		}
		return sc.append(dst, target, depth+1, nullable, desc)
	}
	if allOf != nil && anyOf == nil && typ == "" && !hasProps {
		var first []byte
		_ = peek.Elements(allOf, func(e []byte) error {
			if first == nil {
				first = e
			}
			return nil
		})
		if first != nil {
			return sc.append(dst, first, depth+1, nullable, desc)
		}
	}
	var branches [][]byte
	if anyOf != nil {
		_ = peek.Elements(anyOf, func(e []byte) error {
			if isNullSchema(e) {
				nullable = true
			} else {
				branches = append(branches, e)
			}
			return nil
		})
		if len(branches) == 1 && typ == "" && !hasProps {
			return sc.append(dst, branches[0], depth+1, nullable, desc)
		}
	}
	gt := geminiType(typ)
	if gt == "" {
		_, constString := peek.String(consts)
		switch {
		case hasProps:
			gt = "OBJECT"
		case hasItems:
			gt = "ARRAY"
		case hasEnum && enumOK, consts != nil && constString == nil:
			gt = "STRING" // Gemini enums are strings
		}
	}

	dst = append(dst, '{')
	n := 0
	sep := func() {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
	}
	if gt != "" {
		sep()
		dst = append(dst, `"type":"`...)
		dst = append(dst, gt...)
		dst = append(dst, '"')
	}
	if nullable {
		sep()
		dst = append(dst, `"nullable":true`...)
	}
	if len(branches) > 0 {
		sep()
		dst = append(dst, `"anyOf":[`...)
		for i, br := range branches {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = sc.append(dst, br, depth+1, false, nil); err != nil {
				return dst, err
			}
		}
		dst = append(dst, ']')
	}
	if desc != nil && !hasDesc {
		sep()
		dst = append(dst, `"description":`...)
		dst = append(dst, desc...)
	}
	if consts != nil && !hasEnum {
		if _, err := peek.String(consts); err == nil {
			sep()
			dst = append(dst, `"enum":[`...)
			dst = append(dst, consts...)
			dst = append(dst, ']')
		}
	}
	err = peek.Members(s, func(m peek.Member) error {
		v := bytes.TrimSpace(m.Value)
		key := peek.Key(m.Key)
		switch string(key) {
		case "title", "description", "required", "minItems", "maxItems", "minLength", "maxLength",
			"pattern", "minimum", "maximum", "minProperties", "maxProperties", "example", "default",
			"propertyOrdering":
			sep()
			dst = peek.AppendString(dst, string(key))
			dst = append(dst, ':')
			dst = append(dst, v...)
		case "format":
			f, err := peek.String(v)
			if err != nil || !formatOK(gt, string(f)) {
				return nil
			}
			sep()
			dst = append(dst, `"format":`...)
			dst = append(dst, v...)
		case "enum":
			if !enumOK {
				return nil
			}
			sep()
			dst = append(dst, `"enum":[`...)
			k := 0
			_ = peek.Elements(enumVals, func(e []byte) error {
				if peek.IsNull(e) {
					return nil
				}
				if k > 0 {
					dst = append(dst, ',')
				}
				k++
				dst = append(dst, e...)
				return nil
			})
			dst = append(dst, ']')
		case "properties":
			if len(v) == 0 || v[0] != '{' {
				return nil
			}
			sep()
			dst = append(dst, `"properties":{`...)
			k := 0
			err := peek.Members(v, func(p peek.Member) error {
				if k > 0 {
					dst = append(dst, ',')
				}
				k++
				dst = append(dst, '"')
				dst = append(dst, p.Key...)
				dst = append(dst, '"', ':')
				var err error
				dst, err = sc.append(dst, p.Value, depth+1, false, nil)
				return err
			})
			if err != nil {
				return err
			}
			dst = append(dst, '}')
		case "items":
			item := v
			if len(v) > 0 && v[0] == '[' {
				// A tuple: Gemini has none; the first element's schema
				// stands for every item.
				item = nil
				_ = peek.Elements(v, func(e []byte) error {
					if item == nil {
						item = e
					}
					return nil
				})
				if item == nil {
					return nil
				}
			}
			sep()
			dst = append(dst, `"items":`...)
			var err error
			dst, err = sc.append(dst, item, depth+1, false, nil)
			return err
		}
		return nil
	})
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

// formatOK reports the formats Gemini accepts for a type.
func formatOK(typ, f string) bool {
	switch typ {
	case "STRING":
		return f == "enum" || f == "date-time"
	case "NUMBER":
		return f == "float" || f == "double"
	case "INTEGER":
		return f == "int32" || f == "int64"
	}
	return false
}
