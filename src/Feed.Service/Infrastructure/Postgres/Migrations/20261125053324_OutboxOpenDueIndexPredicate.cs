using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Feed.Infrastructure.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class OutboxOpenDueIndexPredicate : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_outbox_open_due",
                table: "outbox");

            migrationBuilder.CreateIndex(
                name: "ix_outbox_open_due",
                table: "outbox",
                column: "next_attempt_at",
                filter: "completed_at IS NULL AND next_attempt_at IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_outbox_open_due",
                table: "outbox");

            migrationBuilder.CreateIndex(
                name: "ix_outbox_open_due",
                table: "outbox",
                column: "next_attempt_at",
                filter: "completed_at IS NULL");
        }
    }
}
