using Feed.LoadTests.Driver;

namespace Feed.LoadTests.Scenarios;

/// <summary>Picks steps at random in fixed proportions; thread-safe.</summary>
public sealed class StepMix
{
    private readonly Step[] _steps;
    private readonly double[] _cumulative;

    public StepMix(params (Step Step, double Weight)[] steps)
    {
        _steps = [.. steps.Select(s => s.Step)];
        var total = steps.Sum(s => s.Weight);
        var running = 0.0;
        _cumulative = [.. steps.Select(s => running += s.Weight / total)];
    }

    public IReadOnlyList<Step> Steps => _steps;

    public Step Pick()
    {
        var roll = Random.Shared.NextDouble();
        for (var i = 0; i < _cumulative.Length - 1; i++)
        {
            if (roll < _cumulative[i])
            {
                return _steps[i];
            }
        }
        return _steps[^1];
    }
}
