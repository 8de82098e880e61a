package capplan

import (
	"fmt"
	"net/http"
	"strings"
)

// NothingFitsError is a 409 with the engine's decision: no cluster can take the service, or a quota refused it.
// Decision.Clusters says why for each cluster; Reasons gives them by cluster id. (Schema NothingFitsOut.)
type NothingFitsError struct {
	Detail   string  `json:"detail"`
	Decision Cluster `json:"decision"`
}

func (e *NothingFitsError) Error() string { return "capplan: nothing fits: " + e.Detail }

// Reasons maps each rejected cluster's id to the reason it was rejected for.
func (e *NothingFitsError) Reasons() map[string]string {
	reasons := make(map[string]string, len(e.Decision.Clusters))
	for _, record := range e.Decision.Clusters {
		if !record.Feasible {
			reasons[record.ClusterID] = record.Reason
		}
	}
	return reasons
}

// Conflict is a 409 of a placement as the router sends it (schema PlacementConflictOut): Decision is there when
// nothing fits or a quota refused, and absent for a request id reused with another body or a taken service id.
type Conflict struct {
	Detail   string   `json:"detail"`
	Decision *Cluster `json:"decision,omitempty"`
}

// ValidationError is a 422: the request was refused, and each problem names its field. (Schema
// HTTPValidationError.)
type ValidationError struct {
	Problems []FieldProblem `json:"detail"`
}

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Problems))
	for _, problem := range e.Problems {
		parts = append(parts, problem.Field()+": "+problem.Msg)
	}
	return "capplan: invalid request: " + strings.Join(parts, "; ")
}

// FieldProblem is one refused field. Loc is FastAPI's location, such as ["body", "request", "has_volume"].
// (Schema ValidationError.)
type FieldProblem struct {
	Loc   []interface{}          `json:"loc"`
	Msg   string                 `json:"msg"`
	Type  string                 `json:"type"`
	Input interface{}            `json:"input"`
	Ctx   map[string]interface{} `json:"ctx"`
}

// Field is the refused field's path in the request body, such as "request.volumes[0].size".
func (p FieldProblem) Field() string {
	var path strings.Builder
	for index, part := range p.Loc {
		if index == 0 && part == "body" {
			continue
		}
		switch value := part.(type) {
		case float64:
			fmt.Fprintf(&path, "[%d]", int(value))
		default:
			if path.Len() > 0 {
				path.WriteByte('.')
			}
			fmt.Fprint(&path, value)
		}
	}
	return path.String()
}

// ConflictError is a 409 without a decision: a request id reused with a different body, a service id taken, or
// a task queue in use.
type ConflictError struct {
	Detail string
}

func (e *ConflictError) Error() string { return "capplan: conflict: " + e.Detail }

// APIError is any other answer the router gave instead of a result. Compare with errors.Is against ErrNotFound,
// ErrReleased or ErrUnavailable.
type APIError struct {
	StatusCode int
	Detail     string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("capplan: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Detail)
}

// Is matches the sentinel errors by status code.
func (e *APIError) Is(target error) bool {
	sentinel, ok := target.(*APIError)
	return ok && sentinel.Detail == "" && sentinel.StatusCode == e.StatusCode
}

var (
	// ErrNotFound: no such service (or placement) was ever made.
	ErrNotFound = &APIError{StatusCode: http.StatusNotFound}
	// ErrReleased: the service lived on a cluster once, and its placement was released (410 Gone).
	ErrReleased = &APIError{StatusCode: http.StatusGone}
	// ErrUnavailable: the router's database stayed unreachable through every retry (503).
	ErrUnavailable = &APIError{StatusCode: http.StatusServiceUnavailable}
)
