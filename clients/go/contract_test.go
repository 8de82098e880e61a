package capplan

// The Go side of the contract with the router's OpenAPI document. TestContract describes every struct the client
// sends or reads (its JSON fields, their types, which may be left out) and, when CAPPLAN_CONTRACT_OUT names a
// file, writes the description there; tests/test_go_client.py compares it with app.openapi() field by field.

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// contract pairs each struct with the OpenAPI schema it mirrors. "in": the client sends it; "out": it reads it.
var contract = []struct {
	schema    string
	direction string
	value     interface{}
}{
	{"StorableRequestIn", "in", SelectClusterInput{}},
	{"PlacementIn", "in", PlacementInput{}},
	{"PlacedRequestIn", "in", PlacementRequest{}},
	{"VolumeIn", "in", VolumeInput{}},
	{"DecisionOut", "out", Cluster{}},
	{"FilterStep", "out", FilterStep{}},
	{"ClusterScore", "out", ClusterScore{}},
	{"PrioritizeResult", "out", PrioritizeResult{}},
	{"ClusterRecord", "out", ClusterRecord{}},
	{"FilterStatus", "out", FilterStatus{}},
	{"ScoreDetail", "out", ScoreDetail{}},
	{"PlacementOut", "out", Placement{}},
	{"VolumeOut", "out", Volume{}},
	{"ReleaseOut", "out", Release{}},
	{"ServiceOut", "out", Service{}},
	{"ServiceVolumeOut", "out", ServiceVolume{}},
	{"NothingFitsOut", "out", NothingFitsError{}},
	{"PlacementConflictOut", "out", Conflict{}},
	{"HTTPValidationError", "out", ValidationError{}},
	{"ValidationError", "out", FieldProblem{}},
}

// operations are the router's endpoints the client calls (method and OpenAPI path).
var operations = []string{
	"POST /v1/select-cluster",
	"POST /v1/placements",
	"DELETE /v1/placements/{service_id}",
	"GET /v1/services/{service_id}",
}

type fieldType struct {
	Kind     string     `json:"kind"` // string, integer, number, boolean, array, object, struct, any
	Nullable bool       `json:"nullable,omitempty"`
	Items    *fieldType `json:"items,omitempty"`
	Schema   string     `json:"schema,omitempty"` // for a struct: the schema it mirrors
	Format   string     `json:"format,omitempty"`
}

type fieldDescription struct {
	Name      string    `json:"name"`
	GoName    string    `json:"go_name"`
	OmitEmpty bool      `json:"omitempty"`
	Type      fieldType `json:"type"`
}

type structDescription struct {
	Schema    string             `json:"schema"`
	GoType    string             `json:"go_type"`
	Direction string             `json:"direction"`
	Fields    []fieldDescription `json:"fields"`
}

func describeType(t *testing.T, typ reflect.Type, schemas map[reflect.Type]string) fieldType {
	if typ == reflect.TypeOf(time.Time{}) {
		return fieldType{Kind: "string", Format: "date-time"}
	}
	switch typ.Kind() {
	case reflect.Ptr:
		inner := describeType(t, typ.Elem(), schemas)
		inner.Nullable = true
		return inner
	case reflect.String:
		return fieldType{Kind: "string"}
	case reflect.Bool:
		return fieldType{Kind: "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return fieldType{Kind: "integer"}
	case reflect.Float64:
		return fieldType{Kind: "number"}
	case reflect.Slice:
		items := describeType(t, typ.Elem(), schemas)
		return fieldType{Kind: "array", Items: &items, Nullable: true}
	case reflect.Map:
		return fieldType{Kind: "object", Nullable: true}
	case reflect.Interface:
		return fieldType{Kind: "any", Nullable: true}
	case reflect.Struct:
		schema, ok := schemas[typ]
		if !ok {
			t.Errorf("%s is used in a request or answer but mirrors no schema in `contract`", typ.Name())
		}
		return fieldType{Kind: "struct", Schema: schema}
	}
	t.Errorf("unsupported Go type %s", typ)
	return fieldType{Kind: "unsupported"}
}

func TestContract(t *testing.T) {
	schemas := map[reflect.Type]string{}
	for _, entry := range contract {
		schemas[reflect.TypeOf(entry.value)] = entry.schema
	}
	descriptions := []structDescription{}
	for _, entry := range contract {
		typ := reflect.TypeOf(entry.value)
		description := structDescription{Schema: entry.schema, GoType: typ.Name(), Direction: entry.direction}
		for index := 0; index < typ.NumField(); index++ {
			field := typ.Field(index)
			tag, ok := field.Tag.Lookup("json")
			if !ok {
				t.Errorf("%s.%s has no json tag", typ.Name(), field.Name)
				continue
			}
			if tag == "-" {
				continue // the client's own (Placement.Replayed)
			}
			parts := strings.Split(tag, ",")
			omitEmpty := false
			for _, option := range parts[1:] {
				omitEmpty = omitEmpty || option == "omitempty"
			}
			description.Fields = append(description.Fields, fieldDescription{
				Name:      parts[0],
				GoName:    field.Name,
				OmitEmpty: omitEmpty,
				Type:      describeType(t, field.Type, schemas),
			})
		}
		descriptions = append(descriptions, description)
	}
	path := os.Getenv("CAPPLAN_CONTRACT_OUT")
	if path == "" {
		return
	}
	encoded, err := json.MarshalIndent(map[string]interface{}{"structs": descriptions, "operations": operations}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, encoded, 0o644); err != nil {
		t.Fatal(err)
	}
}
