// Package capplan is the product API's client of the capplan router, in the standard library only.
//
// It makes the design document's two calls:
//
//	cluster, err := client.SelectCluster(ctx, capplan.SelectClusterInput{Region: user.PreferredRegion, HasVolume: len(volumes) > 0})
//	service, err := client.ClusterForService(ctx, serviceID) // then TaskQueue: service.TaskQueue
//
// and reserves (Place) and gives back (Release) a service's room. Every call is safe to repeat, so each one is
// retried when the router answers 503 (its database is unreachable) or cannot be reached, after the Retry-After
// the router sends; a placement's retries carry the same request id, so the router answers them with the one
// placement it made.
package capplan

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	defaultMaxAttempts  = 5
	defaultMaxRetryWait = 30 * time.Second
	firstBackoff        = 250 * time.Millisecond
	maxBackoff          = 5 * time.Second
	maxBodyBytes        = 16 << 20
)

// Client calls one router. The zero values of its optional fields mean the defaults.
type Client struct {
	// BaseURL is the router's address, such as "http://127.0.0.1:8080".
	BaseURL string
	// Token is the bearer token placements, releases and lookups need (select-cluster too, if the router
	// protects it).
	Token string
	// HTTPClient defaults to http.DefaultClient. Give it a Timeout to bound each attempt.
	HTTPClient *http.Client
	// MaxAttempts is how often a call is tried in all (default 5). The context bounds the whole call too.
	MaxAttempts int
	// MaxRetryWait caps one wait between attempts, whatever Retry-After says (default 30 s).
	MaxRetryWait time.Duration
	// OnRetry, when set, is told before each wait: the attempt that failed (1-based), the wait, and why.
	OnRetry func(attempt int, wait time.Duration, cause error)

	sleep func(ctx context.Context, wait time.Duration) error // tests replace it
}

// NewClient is a Client for the router at baseURL with a bearer token.
func NewClient(baseURL, token string) *Client {
	return &Client{BaseURL: baseURL, Token: token}
}

// SelectCluster is the design document's selectCluster: the cluster a new service would go to, and why, without
// reserving anything. A *NothingFitsError says why no cluster can take it.
func (c *Client) SelectCluster(ctx context.Context, in SelectClusterInput) (*Cluster, error) {
	var cluster Cluster
	if _, err := c.call(ctx, http.MethodPost, "/v1/select-cluster", in, &cluster); err != nil {
		return nil, err
	}
	return &cluster, nil
}

// Place decides and reserves atomically. The same RequestID always gets the same answer (Placement.Replayed
// says it is a repeat); when in.RequestID is empty, Place makes one up and uses it for every retry.
func (c *Client) Place(ctx context.Context, in PlacementInput) (*Placement, error) {
	if in.RequestID == "" {
		id, err := NewRequestID()
		if err != nil {
			return nil, err
		}
		in.RequestID = id
	}
	var placement Placement
	status, err := c.call(ctx, http.MethodPost, "/v1/placements", in, &placement)
	if err != nil {
		return nil, err
	}
	placement.Replayed = status == http.StatusOK
	return &placement, nil
}

// Release gives back what a placement reserved. Releasing twice is fine: the second answer has Released false.
// An unknown service is ErrNotFound.
func (c *Client) Release(ctx context.Context, serviceID string) (*Release, error) {
	var release Release
	if _, err := c.call(ctx, http.MethodDelete, "/v1/placements/"+url.PathEscape(serviceID), nil, &release); err != nil {
		return nil, err
	}
	return &release, nil
}

// ClusterForService is the design document's getClusterForService: the cluster the service lives on and its
// task queue, also while that cluster drains. A released service is ErrReleased, an unknown one ErrNotFound.
func (c *Client) ClusterForService(ctx context.Context, serviceID string) (*Service, error) {
	var service Service
	if _, err := c.call(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(serviceID), nil, &service); err != nil {
		return nil, err
	}
	return &service, nil
}

// NewRequestID is a random request id for Place.
func NewRequestID() (string, error) {
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", fmt.Errorf("capplan: request id: %w", err)
	}
	return "req-" + hex.EncodeToString(random[:]), nil
}

// retryable is an attempt that may be repeated: a 503, or a router that could not be reached.
type retryable struct {
	err  error
	wait time.Duration // from Retry-After; 0 means back off
}

// call sends one request, retrying as the package comment says, and decodes a 2xx answer into out.
func (c *Client) call(ctx context.Context, method, path string, body, out interface{}) (int, error) {
	var payload []byte
	if body != nil {
		encoded, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("capplan: encode request: %w", err)
		}
		payload = encoded
	}
	attempts := c.MaxAttempts
	if attempts <= 0 {
		attempts = defaultMaxAttempts
	}
	for attempt := 1; ; attempt++ {
		status, err := c.attempt(ctx, method, path, payload, out)
		var again *retryable
		if !errors.As(err, &again) {
			return status, err
		}
		if attempt >= attempts {
			return status, again.err
		}
		wait := again.wait
		if wait <= 0 {
			wait = backoff(attempt)
		}
		limit := c.MaxRetryWait
		if limit <= 0 {
			limit = defaultMaxRetryWait
		}
		if wait > limit {
			wait = limit
		}
		if c.OnRetry != nil {
			c.OnRetry(attempt, wait, again.err)
		}
		sleep := c.sleep
		if sleep == nil {
			sleep = sleepContext
		}
		if err := sleep(ctx, wait); err != nil {
			return status, fmt.Errorf("%w (while waiting to retry after: %v)", err, again.err)
		}
	}
}

func (c *Client) attempt(ctx context.Context, method, path string, payload []byte, out interface{}) (int, error) {
	var reader io.Reader
	if payload != nil {
		reader = bytes.NewReader(payload)
	}
	request, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, reader)
	if err != nil {
		return 0, fmt.Errorf("capplan: %w", err)
	}
	request.Header.Set("Accept", "application/json")
	if payload != nil {
		request.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		request.Header.Set("Authorization", "Bearer "+c.Token)
	}
	httpClient := c.HTTPClient
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	response, err := httpClient.Do(request)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		// Not reached, or no answer: every call is safe to repeat (a placement by its request id).
		return 0, &retryable{err: fmt.Errorf("capplan: %s %s: %w", method, path, err)}
	}
	defer response.Body.Close()
	data, err := io.ReadAll(io.LimitReader(response.Body, maxBodyBytes))
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, &retryable{err: fmt.Errorf("capplan: %s %s: reading the answer: %w", method, path, err)}
	}
	status := response.StatusCode
	if status >= 200 && status < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return status, fmt.Errorf("capplan: %s %s: decode answer: %w", method, path, err)
		}
		return status, nil
	}
	failure := decodeError(status, data)
	if status == http.StatusServiceUnavailable {
		return status, &retryable{err: failure, wait: retryAfter(response.Header.Get("Retry-After"), time.Now())}
	}
	return status, failure
}

func (r *retryable) Error() string { return r.err.Error() }

// decodeError turns a refusal into the package's typed errors.
func decodeError(status int, data []byte) error {
	switch status {
	case http.StatusConflict:
		var conflict Conflict
		if json.Unmarshal(data, &conflict) == nil && conflict.Decision != nil {
			return &NothingFitsError{Detail: conflict.Detail, Decision: *conflict.Decision}
		}
		return &ConflictError{Detail: detailOf(data)}
	case http.StatusUnprocessableEntity:
		var invalid ValidationError
		if err := json.Unmarshal(data, &invalid); err == nil && len(invalid.Problems) > 0 {
			return &invalid
		}
		return &ValidationError{Problems: []FieldProblem{{Msg: detailOf(data)}}}
	}
	return &APIError{StatusCode: status, Detail: detailOf(data)}
}

// detailOf is the router's {"detail": "..."} message, or the start of whatever else it sent.
func detailOf(data []byte) string {
	var problem struct {
		Detail interface{} `json:"detail"`
	}
	if json.Unmarshal(data, &problem) == nil && problem.Detail != nil {
		if text, ok := problem.Detail.(string); ok {
			return text
		}
		encoded, _ := json.Marshal(problem.Detail)
		return string(encoded)
	}
	text := string(data)
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	return text
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date. Zero when absent or unreadable.
func retryAfter(header string, now time.Time) time.Duration {
	header = strings.TrimSpace(header)
	if header == "" {
		return 0
	}
	if seconds, err := strconv.Atoi(header); err == nil {
		if seconds < 0 {
			return 0
		}
		return time.Duration(seconds) * time.Second
	}
	if when, err := http.ParseTime(header); err == nil {
		if wait := when.Sub(now); wait > 0 {
			return wait
		}
	}
	return 0
}

func backoff(attempt int) time.Duration {
	wait := firstBackoff << uint(attempt-1)
	if wait <= 0 || wait > maxBackoff {
		return maxBackoff
	}
	return wait
}

func sleepContext(ctx context.Context, wait time.Duration) error {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
