using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace RegistryClient.Remote;

/// <summary>
/// Builds the one Polly retry pipeline a <see cref="RemoteRegistry"/> uses for every request. Each execution carries
/// its own <see cref="RetryBudget"/> in the resilience context: the budget decides whether a failure is tried again
/// (transient, and not too many in a row without progress) and how long to wait.
/// </summary>
internal static partial class RetryPipeline
{
    /// <summary>The context property holding an execution's budget.</summary>
    public static readonly ResiliencePropertyKey<RetryBudget> BudgetKey = new("regc.retry-budget");

    public static ResiliencePipeline Build(ILogger logger, TimeProvider timeProvider)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = timeProvider };
        builder.AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = int.MaxValue, // the budget decides
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is { } e && Budget(args.Context).ShouldRetry(e)),
            DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(Budget(args.Context).NextDelay(args.Outcome.Exception)),
            OnRetry = args =>
            {
                RetryBudget budget = Budget(args.Context);
                string reason = TransientFaults.Describe(args.Outcome.Exception);
                LogRetry(logger, budget.FailuresInARow + 1, args.RetryDelay.TotalSeconds, reason);
                budget.OnRetry?.Invoke(new RetryNotice(reason, args.RetryDelay, budget.FailuresInARow + 1));
                return default;
            },
        });
        return builder.Build();
    }

    private static RetryBudget Budget(ResilienceContext context) =>
        context.Properties.TryGetValue(BudgetKey, out RetryBudget? budget)
            ? budget
            : throw new InvalidOperationException("every execution of the registry pipeline carries a retry budget");

    [LoggerMessage(Level = LogLevel.Debug, Message = "retry in {DelaySeconds:0.0} s (attempt {Attempt} since the last progress) after: {Reason}")]
    private static partial void LogRetry(ILogger logger, int attempt, double delaySeconds, string reason);
}
