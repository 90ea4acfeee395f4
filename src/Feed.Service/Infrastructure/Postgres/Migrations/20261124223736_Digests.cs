using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace Feed.Infrastructure.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class Digests : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "digest_enabled",
                table: "users",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<short>(
                name: "digest_frequency",
                table: "users",
                type: "smallint",
                nullable: false,
                defaultValue: (short)1);

            migrationBuilder.AddColumn<string>(
                name: "email",
                table: "users",
                type: "character varying(254)",
                maxLength: 254,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "time_zone",
                table: "users",
                type: "character varying(64)",
                maxLength: 64,
                nullable: false,
                defaultValue: "UTC");

            migrationBuilder.CreateTable(
                name: "digests",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    user_id = table.Column<long>(type: "bigint", nullable: false),
                    period = table.Column<string>(type: "character varying(10)", maxLength: 10, nullable: false),
                    status = table.Column<short>(type: "smallint", nullable: false),
                    attempts = table.Column<int>(type: "integer", nullable: false, defaultValue: 0),
                    lease_until = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    lease_token = table.Column<Guid>(type: "uuid", nullable: true),
                    covered_from = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    covered_until = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    post_count = table.Column<int>(type: "integer", nullable: false, defaultValue: 0),
                    total_count = table.Column<int>(type: "integer", nullable: false, defaultValue: 0),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()"),
                    sent_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    last_error = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_digests", x => x.id);
                    table.CheckConstraint("ck_digests_status", "status BETWEEN 1 AND 5");
                    table.ForeignKey(
                        name: "fk_digests_users_user_id",
                        column: x => x.user_id,
                        principalTable: "users",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_users_digest_schedule",
                table: "users",
                columns: new[] { "time_zone", "digest_frequency", "id" },
                filter: "digest_enabled AND email IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "ix_outbox_completed_at",
                table: "outbox",
                column: "completed_at",
                filter: "completed_at IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "ix_digests_created_at",
                table: "digests",
                column: "created_at");

            migrationBuilder.CreateIndex(
                name: "ix_digests_user_id_period",
                table: "digests",
                columns: new[] { "user_id", "period" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "digests");

            migrationBuilder.DropIndex(
                name: "ix_users_digest_schedule",
                table: "users");

            migrationBuilder.DropIndex(
                name: "ix_outbox_completed_at",
                table: "outbox");

            migrationBuilder.DropColumn(
                name: "digest_enabled",
                table: "users");

            migrationBuilder.DropColumn(
                name: "digest_frequency",
                table: "users");

            migrationBuilder.DropColumn(
                name: "email",
                table: "users");

            migrationBuilder.DropColumn(
                name: "time_zone",
                table: "users");
        }
    }
}
