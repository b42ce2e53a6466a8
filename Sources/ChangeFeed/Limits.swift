/// Every bound the ChangeFeed module enforces, in one place.
public enum Limits {
    /// Non-empty batches kept for subscribers that resume from an older revision. A batch is
    /// one applied event's changes, typically one to three small values.
    public static let ringBatchesMax = 4096
    /// Events buffered for one subscriber before it is made to resync. A healthy agent stream
    /// drains in milliseconds; one that lets this many pile up is better served by a snapshot.
    public static let subscriberBufferEventsMax = 1024
}
