package yna

// Notification payloads of the YNA notification channel (fact sheet §6.3–§6.5, §8) and the
// frame codec shared by the client (decode + ack) and the simulator (encode).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Notification type keys: the keys of nsMsg.content (§6.5).
const (
	TypeSessionInvitation       = "sessionInvitationNotification"
	TypeSessionStatus           = "sessionStatusNotification"
	TypeRegistration            = "RegistrationNotification"
	TypeRegistrationInformation = "registrationInformationNotification"

	// TypeLink is the content key the SDK silently ignores (§6.3); DecodeFrame skips it.
	TypeLink = "link"
)

// Session status values of sessionStatusNotification.status (§8.2).
const (
	StatusInitial          = "Initial"
	StatusInProgress       = "InProgress"
	StatusRinging          = "Ringing"
	StatusProceeding       = "Proceeding"
	StatusConnected        = "Connected"
	StatusTerminated       = "Terminated"
	StatusHold             = "Hold"
	StatusResume           = "Resume"
	StatusSessionCancelled = "SessionCancelled"
	StatusDeclined         = "Declined"
	StatusFailed           = "Failed"
	StatusWaiting          = "Waiting"
	StatusNoAnswer         = "NoAnswer"
	StatusNotReachable     = "NotReachable"
	StatusBusy             = "Busy"
	StatusForwarded        = "Forwarded"

	StatusUpgradeToMeetingInitiated  = "UpgradeToMeetingInitiated"
	StatusUpgradeToMeetingInProgress = "UpgradeToMeetingInProgress"
	StatusUpgradeToMeetingSuccess    = "UpgradeToMeetingSuccess"
	StatusUpgradeToMeetingFailed     = "UpgradeToMeetingFailed"
	// StatusVideoUpgrade and StatusVideoDowngrade are not in the spec enum but handled by the SDK.
	StatusVideoUpgrade   = "VideoUpgrade"
	StatusVideoDowngrade = "VideoDowngrade"
)

// IsFinalStatus reports whether a session status ends the call from the gateway's point of
// view. The gateway deliberately treats more statuses as final than the SDK does (§15, §8.3).
func IsFinalStatus(status string) bool {
	switch status {
	case StatusTerminated, StatusSessionCancelled, StatusDeclined, StatusBusy,
		StatusNoAnswer, StatusNotReachable, StatusFailed:
		return true
	}
	return false
}

// Registration values (§6.5, §6.6).
const (
	RegistrationStateTerminated = "Terminated"
	RegInfoActionLogout         = "logout"
	RegInfoActionReselectNode   = "reselect_node"
)

// Media directions of the spec's MediaDirection enum, used in Offer.MediaIndicator (§9.5).
const (
	DirectionSendRecv = "SendRecv"
	DirectionSendOnly = "SendOnly"
	DirectionRecvOnly = "RecvOnly"
	DirectionInactive = "Inactive"
)

// SessionInvitation is sessionInvitationNotification, an incoming call (§8.1).
type SessionInvitation struct {
	OriginatorAddress  string `json:"originatorAddress"`
	OriginatorName     string `json:"originatorName,omitempty"`
	ReceiverAddress    string `json:"receiverAddress,omitempty"`
	ReceiverName       string `json:"receiverName,omitempty"`
	CallObjectRef      string `json:"callObjectRef,omitempty"`
	SDP                string `json:"sdp,omitempty"`
	VerificationStatus string `json:"verificationStatus,omitempty"`
	ServerCorrelator   string `json:"serverCorrelator,omitempty"`
	// CallType is "audio" or "video"; only meaningful for offer-less invitations (§8.1, §9.3).
	CallType string `json:"callType,omitempty"`
	// Offer is carried by the real service in an inconsistent shape; only logged (§8.1).
	Offer *Offer `json:"offer,omitempty"`
}

// ResponseCode is a SIP status code. It unmarshals from a JSON number or a numeric string
// (§8.2, §11) and marshals as a number. Anything else decodes as 0 without error.
type ResponseCode int

// MarshalJSON writes the code as a JSON number.
func (c ResponseCode) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(c), 10), nil
}

// UnmarshalJSON accepts 180, "180", " 180 ", 180.0 and null; other values become 0.
func (c *ResponseCode) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	s := string(data)
	if len(data) > 0 && data[0] == '"' {
		var str string
		if err := json.Unmarshal(data, &str); err != nil {
			*c = 0
			return nil
		}
		s = strings.TrimSpace(str)
	}
	if n, err := strconv.Atoi(s); err == nil {
		*c = ResponseCode(n)
		return nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= -1e9 && f <= 1e9 {
		*c = ResponseCode(int(f))
		return nil
	}
	*c = 0
	return nil
}

// SessionStatus is sessionStatusNotification (§8.2). Only Status is required on the wire.
type SessionStatus struct {
	Status        string       `json:"status"`
	ResponseCode  ResponseCode `json:"responseCode,omitempty"`
	SDP           string       `json:"sdp,omitempty"`
	CallObjectRef string       `json:"callObjectRef,omitempty"`
	// Offer's presence means "SDP is an offer that must be answered" (§8.2, §8.3).
	Offer               *Offer `json:"offer,omitempty"`
	ReceiverAddress     string `json:"receiverAddress,omitempty"`
	ReceiverName        string `json:"receiverName,omitempty"`
	EarlyMediaDirection string `json:"earlyMediaDirection,omitempty"`

	TransferTargetName    string `json:"transferTargetName,omitempty"`
	TransferTargetAddress string `json:"transferTargetAddress,omitempty"`
	DiversionAddress      string `json:"diversionAddress,omitempty"`

	NotificationReference *NotificationReference `json:"notificationReference,omitempty"`
	EpochTime             int64                  `json:"epochTime,omitempty"`

	SdpNegotiationSerializationAckRequired string `json:"sdpNegotiationSerializationAckRequired,omitempty"`

	// RequestError and Reason are kept verbatim; the SDK ignores both (§8.2).
	RequestError json.RawMessage `json:"requestError,omitempty"`
	Reason       json.RawMessage `json:"reason,omitempty"`
}

// NotificationReference is sessionStatusNotification.notificationReference (§8.2); unused by
// the SDK, epochTime units unknown (§17 q12).
type NotificationReference struct {
	EpochTime      int64 `json:"epochTime,omitempty"`
	NotificationID int64 `json:"notificationId,omitempty"`
	SequenceNumber int64 `json:"sequenceNumber,omitempty"`
}

// Offer is the "offer" member of status notifications and invitations. Its presence matters
// more than its content (§8.3). The wire shape of mediaIndicator is unknown (§17 q6): it is
// encoded as a single object and decoded tolerantly from an object or an array of objects.
//
// guess: fact sheet §9.5 — {"mediaIndicator":{"type":"audio","direction":"SendOnly"}}.
type Offer struct {
	MediaIndicator *MediaIndicator `json:"mediaIndicator,omitempty"`
	// MediaIndicators holds every indicator found on decode (one for the object form, all of
	// them for the array form). Not encoded.
	MediaIndicators []MediaIndicator `json:"-"`
}

// MediaIndicator is one media line indication of an Offer. guess: fact sheet §9.5.
type MediaIndicator struct {
	Type      string `json:"type"`
	Direction string `json:"direction"`
}

// UnmarshalJSON decodes an Offer tolerantly; it never fails. An Offer that is an array uses
// its first object element; a mediaIndicator that is an array keeps all object elements.
func (o *Offer) UnmarshalJSON(data []byte) error {
	*o = Offer{}
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var arr []json.RawMessage
		if json.Unmarshal(data, &arr) != nil {
			return nil
		}
		for _, el := range arr {
			if el = bytes.TrimSpace(el); len(el) > 0 && el[0] == '{' {
				data = el
				break
			}
		}
	}
	var wire struct {
		MediaIndicator json.RawMessage `json:"mediaIndicator"`
	}
	if len(data) == 0 || data[0] != '{' || json.Unmarshal(data, &wire) != nil {
		return nil
	}
	o.MediaIndicators = decodeMediaIndicators(wire.MediaIndicator)
	if len(o.MediaIndicators) > 0 {
		mi := o.MediaIndicators[0]
		o.MediaIndicator = &mi
	}
	return nil
}

func decodeMediaIndicators(raw json.RawMessage) []MediaIndicator {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	one := func(el json.RawMessage) (MediaIndicator, bool) {
		var m map[string]json.RawMessage
		if json.Unmarshal(el, &m) != nil || m == nil {
			return MediaIndicator{}, false
		}
		return MediaIndicator{Type: looseString(m["type"]), Direction: looseString(m["direction"])}, true
	}
	switch raw[0] {
	case '{':
		if mi, ok := one(raw); ok {
			return []MediaIndicator{mi}
		}
	case '[':
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) != nil {
			return nil
		}
		var out []MediaIndicator
		for _, el := range arr {
			if mi, ok := one(el); ok {
				out = append(out, mi)
			}
		}
		return out
	}
	return nil
}

// looseString returns a JSON string's value, or the literal text of any other scalar.
func looseString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] != '{' && raw[0] != '[' && string(raw) != "null" {
		return string(raw)
	}
	return ""
}

// RegistrationNotification is RegistrationNotification (§6.5). registrationState
// "Terminated" means the session expired: fetch a new channel URL and reconnect.
type RegistrationNotification struct {
	RegistrationState string `json:"registrationState"`
}

// RegistrationInformation is registrationInformationNotification (§6.5). Action "logout"
// forces sign-out, "reselect_node" forces a full channel rebuild; otherwise RegInfo lists the
// registered devices and is kept verbatim.
type RegistrationInformation struct {
	Action  string          `json:"action,omitempty"`
	RegInfo json.RawMessage `json:"regInfo,omitempty"`
}

// Notification is one content entry of an nsMsg frame.
type Notification struct {
	// MsgID is the frame's msgId verbatim (compacted JSON, same JSON type as on the wire); nil
	// if the frame had none. All notifications of one frame share it.
	MsgID json.RawMessage
	// Type is the content key (TypeSessionStatus, ...); unknown keys are kept as they are.
	Type string

	// Exactly one of these is set for a known type whose content is a JSON object.
	Invitation   *SessionInvitation
	Status       *SessionStatus
	Registration *RegistrationNotification
	RegInfo      *RegistrationInformation

	// Raw is the content value verbatim.
	Raw json.RawMessage
	// Err is non-nil when the content could not be decoded completely: the typed pointer is
	// then nil (content not an object) or holds what could be decoded (a field had the wrong
	// JSON type).
	Err error
}

// Known reports whether Type is one of the four types this package decodes.
func (n Notification) Known() bool {
	switch n.Type {
	case TypeSessionInvitation, TypeSessionStatus, TypeRegistration, TypeRegistrationInformation:
		return true
	}
	return false
}

// CallID returns the call id named by the notification's callObjectRef (§8, §11), or "".
func (n Notification) CallID() string {
	switch {
	case n.Invitation != nil:
		return CallIDFromRef(n.Invitation.CallObjectRef)
	case n.Status != nil:
		return CallIDFromRef(n.Status.CallObjectRef)
	}
	return ""
}

// NeedsRebuild reports whether the notification orders a full channel rebuild:
// RegistrationNotification Terminated or registrationInformation reselect_node (§6.6).
func (n Notification) NeedsRebuild() bool {
	switch {
	case n.Registration != nil:
		return n.Registration.RegistrationState == RegistrationStateTerminated
	case n.RegInfo != nil:
		return n.RegInfo.Action == RegInfoActionReselectNode
	}
	return false
}

// CallIDFromRef returns the last path segment of a callObjectRef (§11), ignoring any query
// or fragment; "" if there is none (empty ref or trailing slash).
func CallIDFromRef(ref string) string {
	ref = strings.TrimSpace(ref)
	if i := strings.IndexAny(ref, "?#"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		ref = ref[i+1:]
	}
	return ref
}

// Frame decoding errors.
var (
	// ErrMalformedFrame: the frame is not a JSON object even after control-character escaping.
	ErrMalformedFrame = errors.New("yna: malformed notification frame")
	// ErrNoNsMsg: the frame is a JSON object without an nsMsg object. Such frames are not acked (§6.3).
	ErrNoNsMsg = errors.New("yna: notification frame without nsMsg")
	// ErrBadContent: nsMsg.content is present but not a JSON object (set as Notification.Err).
	ErrBadContent = errors.New("yna: nsMsg content is not an object")
	// ErrBadPayload: a notification payload is not a JSON object or has a mistyped field.
	ErrBadPayload = errors.New("yna: malformed notification payload")
)

// DecodeFrame parses one server text frame (§6.3). It is tolerant: if the JSON does not parse,
// raw control characters U+0000–U+001F inside strings are escaped and parsing is retried
// (literal CR/LF in SDP). A frame may carry several content keys, giving several
// Notifications, in wire order, that share the msgId; the key "link" is skipped; unknown keys
// give a Notification with only Type and Raw.
//
// err == nil exactly when the frame has an nsMsg object, i.e. when it must be acked with
// EncodeAck(msgID) (msgID is nil if nsMsg lacks msgId). A content that is not an object gives
// one Notification with empty Type and Err wrapping ErrBadContent.
func DecodeFrame(data []byte) (msgID json.RawMessage, ns []Notification, err error) {
	var top map[string]json.RawMessage
	if e := json.Unmarshal(data, &top); e != nil {
		esc, changed := escapeControlInStrings(data)
		if !changed {
			return nil, nil, fmt.Errorf("%w: %v", ErrMalformedFrame, e)
		}
		if e2 := json.Unmarshal(esc, &top); e2 != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrMalformedFrame, e2)
		}
	}
	if top == nil {
		return nil, nil, ErrMalformedFrame
	}
	rawMsg, ok := top["nsMsg"]
	if !ok {
		return nil, nil, ErrNoNsMsg
	}
	var msg map[string]json.RawMessage
	if json.Unmarshal(rawMsg, &msg) != nil || msg == nil {
		return nil, nil, fmt.Errorf("%w: nsMsg is not an object", ErrNoNsMsg)
	}
	if id, ok := msg["msgId"]; ok {
		var buf bytes.Buffer
		if json.Compact(&buf, id) == nil {
			msgID = json.RawMessage(buf.Bytes())
		} else {
			msgID = append(json.RawMessage(nil), id...)
		}
	}
	content, ok := msg["content"]
	content = bytes.TrimSpace(content)
	if !ok || len(content) == 0 || string(content) == "null" {
		return msgID, nil, nil
	}
	if content[0] != '{' {
		return msgID, []Notification{{MsgID: msgID, Raw: content, Err: ErrBadContent}}, nil
	}
	keys, vals, e := orderedObject(content)
	if e != nil {
		return msgID, []Notification{{MsgID: msgID, Raw: content, Err: fmt.Errorf("%w: %v", ErrBadContent, e)}}, nil
	}
	for i, k := range keys {
		if k == TypeLink {
			continue
		}
		ns = append(ns, decodeNotification(msgID, k, vals[i]))
	}
	return msgID, ns, nil
}

// decodeNotification decodes one content entry. Mistyped fields are reported in Err but the
// rest of the payload is kept (encoding/json skips the bad field and carries on).
func decodeNotification(msgID json.RawMessage, typ string, raw json.RawMessage) Notification {
	n := Notification{MsgID: msgID, Type: typ, Raw: raw}
	var target any
	switch typ {
	case TypeSessionInvitation:
		n.Invitation = &SessionInvitation{}
		target = n.Invitation
	case TypeSessionStatus:
		n.Status = &SessionStatus{}
		target = n.Status
	case TypeRegistration:
		n.Registration = &RegistrationNotification{}
		target = n.Registration
	case TypeRegistrationInformation:
		n.RegInfo = &RegistrationInformation{}
		target = n.RegInfo
	default:
		return n
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		n.Invitation, n.Status, n.Registration, n.RegInfo = nil, nil, nil, nil
		n.Err = fmt.Errorf("%w: %s is not an object", ErrBadPayload, typ)
		return n
	}
	if err := json.Unmarshal(raw, target); err != nil {
		n.Err = fmt.Errorf("%w: %s: %v", ErrBadPayload, typ, err)
	}
	return n
}

// orderedObject splits a JSON object into its keys and raw values, in wire order.
func orderedObject(data []byte) (keys []string, vals []json.RawMessage, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("not an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, ok := tok.(string)
		if !ok {
			return nil, nil, errors.New("object key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
		vals = append(vals, v)
	}
	if _, err := dec.Token(); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	return keys, vals, nil
}

// escapeControlInStrings replaces raw control characters U+0000–U+001F inside JSON strings by
// \u00XX escapes (§6.3). Unlike the SDK it leaves whitespace between tokens alone, so a
// pretty-printed frame with literal newlines inside an SDP string still parses.
func escapeControlInStrings(data []byte) ([]byte, bool) {
	const hex = "0123456789abcdef"
	var out []byte
	inStr, esc := false, false
	for i, b := range data {
		switch {
		case inStr && esc:
			esc = false
		case inStr && b == '\\':
			esc = true
		case b == '"':
			inStr = !inStr
		case inStr && b < 0x20:
			if out == nil {
				out = make([]byte, 0, len(data)+32)
				out = append(out, data[:i]...)
			}
			out = append(out, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			continue
		}
		if out != nil {
			out = append(out, b)
		}
	}
	if out == nil {
		return data, false
	}
	return out, true
}

// EncodeAck returns the acknowledgement frame {"nsAck":{"msgId":<msgID>}} (§6.4). The msgId
// is echoed verbatim so it keeps its JSON type. A nil msgID gives {"nsAck":{}}, as the SDK
// does when msgId is missing.
func EncodeAck(msgID json.RawMessage) []byte {
	id := bytes.TrimSpace(msgID)
	if len(id) == 0 || !json.Valid(id) {
		return []byte(`{"nsAck":{}}`)
	}
	out := make([]byte, 0, len(id)+22)
	out = append(out, `{"nsAck":{"msgId":`...)
	out = append(out, id...)
	return append(out, "}}"...)
}

// DecodeAck parses an acknowledgement frame (for the simulator) and returns its msgId
// verbatim (nil if absent). It fails if the frame has no nsAck object.
func DecodeAck(data []byte) (json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedFrame, err)
	}
	var ack map[string]json.RawMessage
	if raw, ok := top["nsAck"]; !ok || json.Unmarshal(raw, &ack) != nil || ack == nil {
		return nil, fmt.Errorf("%w: no nsAck object", ErrMalformedFrame)
	}
	id, ok := ack["msgId"]
	if !ok {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, id); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedFrame, err)
	}
	return json.RawMessage(buf.Bytes()), nil
}

// FrameItem is one content entry for EncodeFrameItems.
type FrameItem struct {
	Type  string
	Value any
}

// EncodeFrame builds a server frame {"nsMsg":{"msgId":<msgID>,"content":{<typ>:<v>}}} (§6.3).
// msgID may be a string, a number or a json.RawMessage; v is typically a *SessionStatus,
// *SessionInvitation, *RegistrationNotification or *RegistrationInformation.
func EncodeFrame(msgID any, typ string, v any) ([]byte, error) {
	return EncodeFrameItems(msgID, FrameItem{Type: typ, Value: v})
}

// EncodeFrameItems builds a server frame carrying several content entries in the given order.
func EncodeFrameItems(msgID any, items ...FrameItem) ([]byte, error) {
	id, err := json.Marshal(msgID)
	if err != nil {
		return nil, fmt.Errorf("yna: encode msgId: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(`{"nsMsg":{"msgId":`)
	b.Write(id)
	b.WriteString(`,"content":{`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(it.Type)
		if err != nil {
			return nil, fmt.Errorf("yna: encode content key: %w", err)
		}
		v, err := json.Marshal(it.Value)
		if err != nil {
			return nil, fmt.Errorf("yna: encode %s: %w", it.Type, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteString(`}}}`)
	return b.Bytes(), nil
}

// IsPong reports whether a text frame is a pong: any text starting with "PONG" (§6.2).
func IsPong(data []byte) bool {
	return bytes.HasPrefix(data, []byte("PONG"))
}

// IsPing reports whether a text frame is a client ping (for the simulator).
func IsPing(data []byte) bool {
	return bytes.HasPrefix(data, []byte("PING"))
}

// PingText formats the client ping "PING Y:M:D:h:m:s" for t as given (callers pass local
// time), month 1-based, no zero padding, e.g. "PING 2023:10:5:9:7:3" (§6.2).
func PingText(t time.Time) string {
	return fmt.Sprintf("PING %d:%d:%d:%d:%d:%d",
		t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
}

// PongText is the simulator's reply to a ping: "PONG" followed by the ping's timestamp.
// guess: fact sheet §6.2 — the real server's pong text is unknown (§17 q4).
func PongText(ping []byte) string {
	if rest, ok := bytes.CutPrefix(ping, []byte("PING")); ok {
		return "PONG" + string(rest)
	}
	return "PONG"
}
