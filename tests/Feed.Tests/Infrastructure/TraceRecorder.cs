using System.Collections;
using System.Collections.Concurrent;
using System.Diagnostics;

namespace Feed.Tests.Infrastructure;

/// <summary>Collects the finished spans of the traces a test watches (everything else is dropped).</summary>
public sealed class TraceRecorder : ICollection<Activity>
{
    private readonly ConcurrentDictionary<ActivityTraceId, ConcurrentQueue<Activity>> _traces = new();

    public void Watch(ActivityTraceId traceId) => _traces.TryAdd(traceId, new ConcurrentQueue<Activity>());

    public IReadOnlyList<Activity> Spans(ActivityTraceId traceId) =>
        _traces.TryGetValue(traceId, out var spans) ? [.. spans] : [];

    public void Add(Activity item)
    {
        if (_traces.TryGetValue(item.TraceId, out var spans))
        {
            spans.Enqueue(item);
        }
    }

    public int Count => _traces.Values.Sum(q => q.Count);

    public bool IsReadOnly => false;

    public void Clear() => _traces.Clear();

    public bool Contains(Activity item) => _traces.TryGetValue(item.TraceId, out var spans) && spans.Contains(item);

    public void CopyTo(Activity[] array, int arrayIndex) => _traces.Values.SelectMany(q => q).ToArray().CopyTo(array, arrayIndex);

    public bool Remove(Activity item) => throw new NotSupportedException();

    public IEnumerator<Activity> GetEnumerator() => _traces.Values.SelectMany(q => q).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
